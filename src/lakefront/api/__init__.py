"""The app tier (the Elastic Beanstalk role): a FastAPI JSON API over the shop's use cases."""
