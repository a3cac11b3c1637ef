"""resizer: named image variants for S3 + CloudFront, made on first request by Lambda@Edge."""

__version__ = "0.1.0"
