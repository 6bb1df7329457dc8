"""The authorization model: would AWS allow this call, given the synthesized assembly?

IAM identity policies, key policies and the other resource policies are read from the
templates; requests are decided by an IAM evaluator run in its own process
(simulator.py). Used by the drill (every call it makes goes through the model as the
principal that makes it in AWS) and by the tests (service chains, permission contracts).
"""
