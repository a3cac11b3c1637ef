"""Lambda@Edge handlers. Import the submodule you need: `viewer` must stay free of image libraries and boto3."""
