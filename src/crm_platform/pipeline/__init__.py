"""The delivery pipeline: one ECR repository replicated to DR, CodeBuild, CodePipeline V2.

Source (CodeConnections) -> Build (publish the pinned release, scan gate, deploy files)
-> Approve (notification on the alert topic) -> Migrate (snapshot, one-off migration
task) -> Deploy primary (server blue/green by ECS, worker rolling) -> Deploy DR (task
definitions updated even at zero tasks, so a failover never starts an old release).
"""
