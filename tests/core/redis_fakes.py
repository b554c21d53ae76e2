"""A Redis stand-in on 127.0.0.1 for what a real server will not do on demand: answer nothing, close on a command,
refuse AUTH, and show what a client sent."""

import asyncio

from apps.core.redis_pipe import INCOMPLETE, parse_reply

OK, SILENT, CLOSE, REFUSE_AUTH = "ok", "silent", "close", "refuse_auth"


class FakeRedis:
    """`mode`: OK answers +OK to every command; SILENT accepts and never answers; CLOSE closes a connection as soon
    as a command arrives; REFUSE_AUTH answers AUTH with -WRONGPASS and the rest with +OK. Run it inside the loop
    of the client under test: `async with FakeRedis(OK) as fake: … fake.url …`."""

    def __init__(self, mode: str):
        self.mode = mode
        self.commands: list[list[str]] = []  # every command received, in order, over all connections
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: list[asyncio.Task] = []

    async def __aenter__(self) -> "FakeRedis":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()  # the handlers read the end of their stream and return
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=2)
        await self._server.wait_closed()

    def url(self, credentials: str = "", db: int | None = None) -> str:
        return f"redis://{credentials}127.0.0.1:{self.port}" + ("" if db is None else f"/{db}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        self._handlers.append(asyncio.current_task())
        buf = b""
        while data := await reader.read(65536):
            buf += data
            pos = 0
            while True:
                command, after = parse_reply(buf, pos)
                if command is INCOMPLETE:
                    break
                pos = after
                self.commands.append(command)
                if self.mode == CLOSE:
                    writer.close()
                    return
                if self.mode == OK:
                    writer.write(b"+OK\r\n")
                elif self.mode == REFUSE_AUTH:
                    writer.write(b"-WRONGPASS invalid password\r\n" if command[0] == "AUTH" else b"+OK\r\n")
            buf = buf[pos:]
