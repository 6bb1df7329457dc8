"""Reading a synthesized cloud assembly: its stacks in deployment order, their templates,
and the values CloudFormation's intrinsic functions would produce."""
