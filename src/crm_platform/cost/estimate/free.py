"""Resource types with no charge of their own, and priced types the estimator leaves out.

A free type still counts in the estimate's summary; what it carries (logs, requests) is
priced on the resource that bills for it. Anything in neither list and without a rule is
listed as not priced, never dropped.
"""

from __future__ import annotations

FREE = frozenset(
    {
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::BCMDataExports::Export",
        "AWS::Backup::BackupSelection",
        "AWS::Backup::BackupVault",
        "AWS::Budgets::Budget",
        "AWS::CE::AnomalyMonitor",
        "AWS::CE::AnomalySubscription",
        "AWS::CertificateManager::Certificate",
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CodeConnections::Connection",
        "AWS::EC2::FlowLog",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::Route",
        "AWS::EC2::RouteTable",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::Subnet",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::VPC",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::ECR::RepositoryCreationTemplate",
        "AWS::ElastiCache::ParameterGroup",
        "AWS::ElastiCache::SubnetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::Events::Rule",
        "AWS::IAM::Group",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::IAM::User",
        "AWS::KMS::Alias",
        "AWS::Lambda::Permission",
        "AWS::Logs::Delivery",
        "AWS::Logs::DeliveryDestination",
        "AWS::Logs::DeliverySource",
        "AWS::RDS::DBParameterGroup",
        "AWS::RDS::DBSubnetGroup",
        "AWS::Route53::RecordSet",
        "AWS::S3::BucketPolicy",
        "AWS::SES::ConfigurationSet",
        "AWS::SES::ConfigurationSetEventDestination",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SSM::Parameter",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::SecretsManager::RotationSchedule",
        "AWS::SecretsManager::SecretTargetAttachment",
        "AWS::WAFv2::LoggingConfiguration",
        "AWS::WAFv2::WebACLAssociation",
    }
)

# Types that cost something the estimator does not model, with the reason it says so.
KNOWN_UNPRICED = {
    "AWS::Backup::RestoreTestingPlan": "each restore test restores a copy for validation "
    "(a temporary database and bucket objects for minutes); not modelled",
    "AWS::Backup::RestoreTestingSelection": "see the restore testing plan",
    "AWS::Serverless::Application": "the nested rotation application (a Lambda function "
    "run at each rotation); cents a month, not modelled",
}
