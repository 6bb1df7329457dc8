"""Give every subnet the exact CIDR written in configuration.

CDK's built-in allocators carve subnets in order; the configuration names exact
blocks (10.0.1.0/24 ...), so this allocator hands those back by tier and zone.
"""

from __future__ import annotations

import jsii
from aws_cdk import aws_ec2 as ec2


@jsii.implements(ec2.IIpAddresses)
class FixedSubnetCidrs:
    """An ``IIpAddresses`` that returns configured CIDRs, keyed by subnet group name."""

    def __init__(self, vpc_cidr: str, by_group: dict[str, list[str]]) -> None:
        self._vpc_cidr = vpc_cidr
        self._by_group = by_group

    def allocate_vpc_cidr(self) -> ec2.VpcIpamOptions:
        return ec2.VpcIpamOptions(cidr_block=self._vpc_cidr)

    def allocate_subnets_cidr(self, input: ec2.AllocateCidrRequest) -> ec2.SubnetIpamOptions:
        used: dict[str, int] = {}
        cidrs = []
        for request in input.requested_subnets:
            group = request.configuration.name
            index = used.get(group, 0)
            used[group] = index + 1
            cidrs.append(self._by_group[group][index])
        return ec2.SubnetIpamOptions(allocated_subnets=[ec2.AllocatedSubnet(cidr=c) for c in cidrs])
