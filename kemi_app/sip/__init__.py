"""The KSR adapter: reads SIP messages, loads state, asks the policy, acts."""
