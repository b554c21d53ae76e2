def credits_changed(*, workspace_id: int, amount_usd) -> None:
    """A workspace's credit balance moved by `amount_usd` (signed): the admission counters hear of it here.

    A placeholder until the gateway's reservation path lands; it is replaced at merge.
    """
