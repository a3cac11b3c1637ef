"""Lambda@Edge handlers. Import the submodule you need: `viewer` stays free of image libraries and boto3."""
