"""Price rules for networking: NAT gateways, addresses, interface endpoints, load balancers."""

from __future__ import annotations

from crm_platform.cost.estimate.context import Context, Resource, Rule, of_type, refs
from crm_platform.cost.estimate.lines import Line


def _nat(ctx: Context, r: Resource) -> list[Line]:
    role = ctx.role(r.stack.region)
    lines = [r.line("NAT gateway", "nat.hour", ctx.hours, 1, "nat", f"nat:{role}")]
    nats = sorted(of_type(r.stack, "AWS::EC2::NatGateway"))
    if nats and nats[0] == r.logical:  # the region's processed data, once
        gb = ctx.volumes.nat_processed_gb.of(role)
        lines.append(
            r.line("NAT data processed (GB)", "nat.gb", gb, 1, "nat-data", f"nat-data:{role}")
        )
    return lines


def _eip(ctx: Context, r: Resource) -> list[Line]:
    owners = [
        k
        for k, nat in of_type(r.stack, "AWS::EC2::NatGateway").items()
        if r.logical in refs(nat.get("Properties", {}).get("AllocationId"))
    ]
    role = ctx.role(r.stack.region)
    tags = ("ipv4", "nat", f"nat:{role}", *(f"of:{r.stack.name}/{o}" for o in owners))
    return [r.line("public IPv4 address", "ipv4.hour", ctx.hours, 1, *tags)]


def _endpoint(ctx: Context, r: Resource) -> list[Line]:
    if r.props.get("VpcEndpointType", "Gateway") != "Interface":
        return []  # gateway endpoints (S3) have no charge
    service = str(r.props.get("ServiceName", "")).split(f"{r.stack.region}.", 1)[-1]
    role = ctx.role(r.stack.region)
    zones = len(r.props.get("SubnetIds", [])) or 1
    lines = [
        r.line(
            f"interface endpoint {service} ({zones} AZ)",
            "endpoint.az_hour",
            ctx.hours,
            zones,
            "endpoint",
            f"endpoint:{service}",
        )
    ]
    interface = sorted(
        k
        for k, e in of_type(r.stack, "AWS::EC2::VPCEndpoint").items()
        if e.get("Properties", {}).get("VpcEndpointType") == "Interface"
    )
    if interface and interface[0] == r.logical:
        gb = ctx.volumes.endpoint_processed_gb.of(role)
        lines.append(
            r.line(
                "endpoint data processed (GB)", "endpoint.gb", gb, 1, "endpoint", "endpoint-data"
            )
        )
    return lines


def _load_balancer(ctx: Context, r: Resource) -> list[Line]:
    role = ctx.role(r.stack.region)
    tags = ("alb", f"alb:{role}")
    lines = [
        r.line("application load balancer", "alb.hour", ctx.hours, 1, *tags),
        r.line(
            "load balancer capacity units (LCU-hours)",
            "alb.lcu_hour",
            ctx.hours,
            ctx.volumes.load_balancer_lcu.of(role),
            *tags,
        ),
    ]
    if r.props.get("Scheme", "internet-facing") == "internet-facing":
        zones = len(r.props.get("Subnets", [])) or 2
        lines.append(
            r.line(
                f"public IPv4 addresses ({zones} AZ)", "ipv4.hour", ctx.hours, zones, "ipv4", *tags
            )
        )
    return lines


RULES: dict[str, Rule] = {
    "AWS::EC2::NatGateway": _nat,
    "AWS::EC2::EIP": _eip,
    "AWS::EC2::VPCEndpoint": _endpoint,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
}
