"""The local control plane: the roles AWS plays for Auto Scaling and load balancer target groups."""
