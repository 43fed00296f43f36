"""How a target goes back to a version: a Lambda alias, or a static site's CloudFront origin path."""

from __future__ import annotations

from typing import Any, Protocol

MAX_ATTEMPTS = 5


class Strategy(Protocol):
    def current(self) -> str: ...

    def switch(self, version: str, reference: str) -> dict[str, Any]: ...


class LambdaAlias:
    def __init__(self, client: Any, function: str, alias: str) -> None:
        self.client, self.function, self.alias = client, function, alias

    def current(self) -> str:
        return str(self.client.get_alias(FunctionName=self.function, Name=self.alias)["FunctionVersion"])

    def switch(self, version: str, reference: str) -> dict[str, Any]:
        previous = self.current()
        # Clearing the weights ends any canary still sending traffic to the bad version.
        self.client.update_alias(FunctionName=self.function, Name=self.alias, FunctionVersion=version,
                                 RoutingConfig={"AdditionalVersionWeights": {}})
        return {"previous": previous, "now": version, "api_calls": 2}


class StaticSite:
    """Immutable releases under `releases/<version>/`; the distribution's origin path picks one."""

    def __init__(self, client: Any, distribution_id: str, origin_id: str, entry_paths: list[str]) -> None:
        self.client, self.distribution_id = client, distribution_id
        self.origin_id, self.entry_paths = origin_id, entry_paths

    def _origin(self, config: dict[str, Any]) -> dict[str, Any]:
        return next(o for o in config["Origins"]["Items"] if o["Id"] == self.origin_id)

    def current(self) -> str:
        config = self.client.get_distribution_config(Id=self.distribution_id)["DistributionConfig"]
        return str(self._origin(config)["OriginPath"]).rsplit("/", 1)[-1]

    def switch(self, version: str, reference: str) -> dict[str, Any]:
        calls = attempts = 0
        for attempts in range(1, MAX_ATTEMPTS + 1):  # noqa: B007 - reported below
            response = self.client.get_distribution_config(Id=self.distribution_id)
            calls += 1
            config = response["DistributionConfig"]
            origin = self._origin(config)
            previous = str(origin["OriginPath"]).rsplit("/", 1)[-1]
            origin["OriginPath"] = f"/releases/{version}"
            try:
                self.client.update_distribution(Id=self.distribution_id, IfMatch=response["ETag"],
                                                DistributionConfig=config)
                calls += 1
                break
            except self.client.exceptions.PreconditionFailed:
                calls += 1  # someone changed the distribution since our read: read again
        else:
            raise RuntimeError(f"distribution {self.distribution_id}: still changing after {MAX_ATTEMPTS} attempts")
        # Only the entry documents: the releases are immutable and their assets versioned by path.
        self.client.create_invalidation(DistributionId=self.distribution_id, InvalidationBatch={
            "Paths": {"Quantity": len(self.entry_paths), "Items": list(self.entry_paths)},
            "CallerReference": reference})
        return {"previous": previous, "now": version, "attempts": attempts, "api_calls": calls + 1}
