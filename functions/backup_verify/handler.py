"""Backup verification Lambda: freshness against RPO, job failures, restore validation, retention."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from backup_service import BackupService
from controlplane.runtime import dependencies

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run, sent = BackupService(dependencies()).handle(event)
    for name, value, unit, dimensions in run.metrics:
        # Per-resource series (BackupAgeMinutes by resource) need their own dimension set.
        with single_metric(name=name, unit=MetricUnit[unit], value=value, namespace=metrics.namespace) as metric:
            for key, dimension in dimensions.items():
                metric.add_dimension(name=key, value=dimension)
    metrics.add_metric(name="VerificationFailures", unit=MetricUnit.Count,
                       value=sum(1 for finding in run.findings if finding.state == "ALARM"))
    for finding in sent:
        logger.info("backup finding sent", extra=finding.__dict__)
    return run.as_dict(sent)
