"""Least-privilege security groups for each tier, and the one place that knows the ports.

Traffic is allowed along one path: CloudFront -> load balancer -> tasks -> database /
cache. The one addition is the credential-rotation function's own group, which the
database construct admits to PostgreSQL. Nothing allows all outbound traffic; the tasks
reach out on HTTPS and, when e-mail is on, on the SMTP submission port (Amazon SES).
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

HTTPS_PORT = 443
APP_PORT = 3000  # Twenty's server listens here
POSTGRES_PORT = 5432
REDIS_PORT = 6379
# Amazon SES's SMTP endpoint takes STARTTLS on 587 ("the SMTP client connects to the
# Amazon SES SMTP endpoint on port 25, 587, or 2587", ses/latest/dg/smtp-connect.html);
# EC2 throttles port 25, so Twenty submits on 587 (its EMAIL_SMTP_PORT default).
SMTP_SUBMISSION_PORT = 587


class TierSecurityGroups(Construct):
    """Security groups for the load balancer, tasks, database and cache of one region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        cloudfront_prefix_list_id: str,
        smtp_submission: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)

        def group(name: str, description: str) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(
                self, name, vpc=vpc, description=description, allow_all_outbound=False
            )

        self.load_balancer = group("LoadBalancer", "Load balancer: to the server tasks only")
        # A referenced prefix list counts its maximum size (55 for CloudFront's) against
        # the group's 60-rule quota, so each port gets a group of its own.
        self.cloudfront_https = group("CloudFrontHttps", "Load balancer: HTTPS from CloudFront")
        # Retired: the balancer has no port-80 listener any more (ADR 0038). The group is
        # kept, empty and attached to nothing, for one release: this stack deploys before
        # the application stack, which still attaches it to the balancer until it
        # updates, and a group in use cannot be deleted. Remove it in the next release.
        self.retired_cloudfront_http = group(
            "CloudFrontHttp", "Load balancer: HTTP from CloudFront"
        )
        self.tasks = group("Tasks", "Twenty server and worker tasks")
        self.database = group("Database", "PostgreSQL: from the tasks only")
        self.cache = group("Cache", "Redis/Valkey: from the tasks only")

        self.cloudfront_https.add_ingress_rule(
            ec2.Peer.prefix_list(cloudfront_prefix_list_id),
            ec2.Port.tcp(HTTPS_PORT),
            "HTTPS from CloudFront origin-facing servers",
        )
        self.load_balancer.add_egress_rule(
            self.tasks, ec2.Port.tcp(APP_PORT), "To the Twenty server tasks"
        )
        self.tasks.add_ingress_rule(
            self.load_balancer, ec2.Port.tcp(APP_PORT), "From the load balancer"
        )
        self.tasks.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(HTTPS_PORT),
            "AWS APIs, image pulls and outbound HTTPS via NAT",
        )
        self.tasks.add_egress_rule(self.database, ec2.Port.tcp(POSTGRES_PORT), "To PostgreSQL")
        if smtp_submission:
            # SES's regional SMTP endpoint has public addresses only (reached through NAT).
            self.tasks.add_egress_rule(
                ec2.Peer.any_ipv4(),
                ec2.Port.tcp(SMTP_SUBMISSION_PORT),
                "SMTP submission (STARTTLS) to Amazon SES via NAT",
            )
        self.tasks.add_egress_rule(self.cache, ec2.Port.tcp(REDIS_PORT), "To Redis/Valkey")
        self.database.add_ingress_rule(self.tasks, ec2.Port.tcp(POSTGRES_PORT), "From tasks")
        self.cache.add_ingress_rule(self.tasks, ec2.Port.tcp(REDIS_PORT), "From tasks")
