"""Twenty on ECS Fargate: the task wrapper, task definitions, services, origin load balancer."""
