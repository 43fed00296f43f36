"""A CloudWatch dashboard for the control plane itself."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

NAMESPACE = "OpsControlPlane"
TRIAGE_RESULTS = ("opened", "updated", "resolved", "joined", "blind_spot", "duplicate", "rejected")
# Where incidents open and backups fail, from the functions' own structured logs (Logs Insights):
# triage's outcome and a sent backup finding carry their account and Region. A metric per account ×
# Region would be thousands of series at organization scale; a query costs nothing idle.
INCIDENTS_BY_WHERE = """fields @timestamp
| filter message = "triage outcome" and result in ["opened", "reopened"]
| stats count(*) as incidents by account, region
| sort incidents desc"""
BACKUP_FINDINGS_BY_WHERE = """fields @timestamp
| filter message = "backup finding sent"
| stats count(*) as findings by account, region, check, state
| sort account, region"""


class ControlPlaneDashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, functions: list[lambda_.IFunction],
                 dead_letter_queues: list[sqs.IQueue], alarms: list[cloudwatch.IAlarm],
                 triage_logs: logs.ILogGroup, backup_logs: logs.ILogGroup) -> None:
        super().__init__(scope, construct_id)
        five_minutes = Duration.minutes(5)
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{prefix}-control-plane")
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Application alarms", alarms=alarms, width=24),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Triage outcomes",
                left=[cloudwatch.Metric(namespace=NAMESPACE, metric_name=f"Triage_{result}",
                                        dimensions_map={"service": "triage"}, statistic="Sum", period=five_minutes)
                      for result in TRIAGE_RESULTS],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queues (messages waiting)",
                left=[queue.metric_approximate_number_of_messages_visible(period=five_minutes, statistic="Maximum")
                      for queue in dead_letter_queues],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Backups: age of the newest recovery point (max, minutes)", width=8, left=[
                cloudwatch.MathExpression(
                    label="BackupAgeMinutes", period=Duration.hours(1),
                    expression=f"MAX(SEARCH('{{{NAMESPACE}}} MetricName=\"BackupAgeMinutes\"', "
                               "'Maximum', 3600))")]),
            cloudwatch.GraphWidget(title="Backups: verification failures", width=8, left=[cloudwatch.Metric(
                namespace=NAMESPACE, metric_name="VerificationFailures", dimensions_map={"service": "backup_verify"},
                statistic="Maximum", period=Duration.hours(1))]),
            cloudwatch.GraphWidget(title="Restore duration (s)", width=8, left=[cloudwatch.MathExpression(
                label="RestoreDurationSeconds", period=Duration.days(1),
                expression=f"MAX(SEARCH('{{{NAMESPACE}}} MetricName=\"RestoreDurationSeconds\"', "
                           "'Maximum', 86400))")]),
        )
        dashboard.add_widgets(
            cloudwatch.LogQueryWidget(title="Where: incidents opened, by account and Region", width=12,
                                      log_group_names=[triage_logs.log_group_name],
                                      query_lines=INCIDENTS_BY_WHERE.splitlines(),
                                      view=cloudwatch.LogQueryVisualizationType.TABLE),
            cloudwatch.LogQueryWidget(title="Where: backup findings sent, by account and Region", width=12,
                                      log_group_names=[backup_logs.log_group_name],
                                      query_lines=BACKUP_FINDINGS_BY_WHERE.splitlines(),
                                      view=cloudwatch.LogQueryVisualizationType.TABLE),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Function errors and throttles", width=12,
                                   left=[m for f in functions for m in (f.metric_errors(period=five_minutes),
                                                                        f.metric_throttles(period=five_minutes))]),
            cloudwatch.GraphWidget(title="Function duration p99", width=12,
                                   left=[f.metric_duration(period=five_minutes, statistic="p99") for f in functions]),
        )
