"""The CloudFormation template `resizer build` writes next to the zips (deploy it in us-east-1).

Built from plain dicts (long-form intrinsics: {"Ref": ...}, {"Fn::Sub": ...}) and dumped as YAML, or as JSON
(valid YAML too) where PyYAML is missing. Build-specific values are baked in: the bucket (it is baked into the
functions' config, so it cannot be a free parameter), the artifact keys (as defaults) and each zip's
CodeSha256, which makes every new build publish new numbered versions and re-associate them.
"""

import json
from typing import Any

TRUE_FALSE = ["true", "false"]
# Origin Shield: the Regions that have it, and for a bucket elsewhere the neighbour the CloudFront developer guide
# names ("Choosing the AWS Region for Origin Shield"; copied in ../shared/lambda-edge-facts.md, checked
# 2026-12-04). With it on, the origin-facing function runs in that Region, next to the bucket (docs/EDGE.md).
ORIGIN_SHIELD_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
                         "ap-southeast-1", "ap-southeast-2", "eu-central-1", "eu-west-1", "eu-west-2", "sa-east-1")
ORIGIN_SHIELD_NEIGHBOUR = {"us-west-1": "us-west-2", "ca-central-1": "us-east-1", "eu-west-3": "eu-west-2",
                           "eu-north-1": "eu-west-2", "eu-south-1": "eu-central-1", "ap-east-1": "ap-southeast-1",
                           "af-south-1": "eu-west-1", "me-south-1": "ap-south-1"}
ORIGIN_MEMORY_MB = 1536  # the origin-response function's default memory (`resizer warm` prices misses with it)


def _sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def _role(description: str, statements: list[dict[str, Any]],
          principals: tuple[str, ...] = ("lambda.amazonaws.com", "edgelambda.amazonaws.com")) -> dict[str, Any]:
    """An execution role Lambda (and by default Lambda@Edge) can assume, logging anywhere, plus `statements`."""
    role: dict[str, Any] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": list(principals)},
                    "Action": "sts:AssumeRole",
                }],
            },
            # Edge functions log to /aws/lambda/us-east-1.NAME in the region that ran them.
            "ManagedPolicyArns": [
                _sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")],
        },
    }
    if statements:
        role["Properties"]["Policies"] = [{
            "PolicyName": "resizer-s3",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        }]
    return role


def _function(name: str, info: dict[str, Any], role: str, memory: int | dict[str, Any], timeout: int,
              key_parameter: str) -> dict[str, Any]:
    artifact = info["artifacts"][name]
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Description": f"resizer {name} (config sha256 {info['config_sha256'][:12]})",
            "Runtime": info["runtime"],
            "Architectures": ["x86_64"],
            "Handler": artifact["handler"],
            "Role": {"Fn::GetAtt": [role, "Arn"]},
            "MemorySize": memory,
            "Timeout": timeout,
            "Code": {"S3Bucket": _ref("ArtifactBucket"), "S3Key": _ref(key_parameter)},
        },
    }


def _version(function: str, name: str, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Version",
        # A replaced version may keep edge replicas for hours: retain it (delete by hand later, docs/EDGE.md).
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "FunctionName": _ref(function),
            "CodeSha256": info["artifacts"][name]["code_sha256"],
            "Description": f"build {info['artifacts'][name]['sha256'][:16]}",
        },
    }


def template(info: dict[str, Any]) -> dict[str, Any]:
    bucket, prefix, region = info["bucket"], info["derived_prefix"], info["region"]
    bucket_arn = f"arn:${{AWS::Partition}}:s3:::{bucket}"
    distribution_arn = _sub(
        "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}")
    from_cloudfront = {"StringEquals": {"AWS:SourceArn": distribution_arn}}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"resizer: image variants for s3://{bucket} (Lambda@Edge; deploy in us-east-1)",
        "Parameters": {
            "ArtifactBucket": {"Type": "String", "Description": "us-east-1 bucket holding the two zips"},
            "ViewerRequestKey": {"Type": "String", "Default": info["artifacts"]["viewer-request"]["key"]},
            "OriginResponseKey": {"Type": "String", "Default": info["artifacts"]["origin-response"]["key"]},
            "CreateBucket": {"Type": "String", "AllowedValues": TRUE_FALSE, "Default": "true",
                             "Description": f"false: use the existing bucket {bucket}"},
            "ManageBucketPolicy": {"Type": "String", "AllowedValues": TRUE_FALSE, "Default": "true",
                                   "Description": "false: the bucket's existing policy is kept (add the "
                                                  "CloudFront statements from docs/EDGE.md to it yourself)"},
            "OriginMemorySize": {"Type": "Number", "Default": ORIGIN_MEMORY_MB, "MinValue": 128, "MaxValue": 10240,
                                 "Description": "MB for the origin-response function (CPU scales with it)"},
            "PriceClass": {"Type": "String", "Default": "PriceClass_100",
                           "AllowedValues": ["PriceClass_100", "PriceClass_200", "PriceClass_All"]},
        },
        "Conditions": {
            "NewBucket": {"Fn::Equals": [_ref("CreateBucket"), "true"]},
            "OwnBucketPolicy": {"Fn::Equals": [_ref("ManageBucketPolicy"), "true"]},
        },
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Condition": "NewBucket",
                "DeletionPolicy": "Retain",  # originals outlive the stack
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": bucket,
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True, "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
                    },
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                },
            },
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Condition": "OwnBucketPolicy",
                "Properties": {
                    "Bucket": {"Fn::If": ["NewBucket", _ref("Bucket"), bucket]},
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Sid": "CloudFrontReads", "Effect": "Allow",
                         "Principal": {"Service": "cloudfront.amazonaws.com"},
                         "Action": "s3:GetObject", "Resource": _sub(f"{bucket_arn}/*"),
                         "Condition": from_cloudfront},
                        {"Sid": "CloudFrontSeesMissingKeysAs404", "Effect": "Allow",
                         "Principal": {"Service": "cloudfront.amazonaws.com"},
                         "Action": "s3:ListBucket", "Resource": _sub(bucket_arn),
                         "Condition": from_cloudfront},
                    ]},
                },
            },
            "OriginAccessControl": {
                "Type": "AWS::CloudFront::OriginAccessControl",
                "Properties": {"OriginAccessControlConfig": {
                    "Name": _sub("${AWS::StackName}-originals"),
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }},
            },
            "CachePolicy": {
                "Type": "AWS::CloudFront::CachePolicy",
                "Properties": {"CachePolicyConfig": {
                    "Name": _sub("${AWS::StackName}-images"),
                    "Comment": "URI only: the viewer function puts the negotiated format into the URI, so "
                               "Accept stays out of the key; query strings are neither keyed nor forwarded",
                    "MinTTL": 0, "DefaultTTL": 86400, "MaxTTL": 31536000,
                    "ParametersInCacheKeyAndForwardedToOrigin": {
                        "EnableAcceptEncodingGzip": False,
                        "EnableAcceptEncodingBrotli": False,
                        "HeadersConfig": {"HeaderBehavior": "none"},
                        "CookiesConfig": {"CookieBehavior": "none"},
                        "QueryStringsConfig": {"QueryStringBehavior": "none"},
                    },
                }},
            },
            "ViewerRequestRole": _role("resizer viewer-request (no AWS access)", []),
            "OriginResponseRole": _role("resizer origin-response: read originals, create variants", [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": _sub(f"{bucket_arn}/*")},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": _sub(f"{bucket_arn}/{prefix}/*")},
                # Without it S3 answers 403 instead of 404 for a missing original.
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": _sub(bucket_arn)},
            ]),
            "ViewerRequestFunction": _function("viewer-request", info, "ViewerRequestRole", 128, 5,
                                               "ViewerRequestKey"),
            "OriginResponseFunction": _function("origin-response", info, "OriginResponseRole",
                                                _ref("OriginMemorySize"), 30, "OriginResponseKey"),
            "ViewerRequestVersion": _version("ViewerRequestFunction", "viewer-request", info),
            "OriginResponseVersion": _version("OriginResponseFunction", "origin-response", info),
            "Distribution": {
                "Type": "AWS::CloudFront::Distribution",
                "Properties": {"DistributionConfig": {
                    "Enabled": True,
                    "Comment": f"resizer s3://{bucket}",
                    "HttpVersion": "http2and3",
                    "IPV6Enabled": True,
                    "PriceClass": _ref("PriceClass"),
                    "Origins": [{
                        "Id": "originals",
                        "DomainName": {"Fn::If": [
                            "NewBucket", {"Fn::GetAtt": ["Bucket", "RegionalDomainName"]},
                            f"{bucket}.s3.{region}.amazonaws.com"]},
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                        "OriginAccessControlId": {"Fn::GetAtt": ["OriginAccessControl", "Id"]},
                        **({"OriginShield": {"Enabled": True, "OriginShieldRegion": info["origin_shield"]}}
                           if info.get("origin_shield") else {}),
                    }],
                    "DefaultCacheBehavior": {
                        "TargetOriginId": "originals",
                        "ViewerProtocolPolicy": "redirect-to-https",
                        "AllowedMethods": ["GET", "HEAD"],
                        "CachedMethods": ["GET", "HEAD"],
                        "Compress": False,
                        "CachePolicyId": _ref("CachePolicy"),
                        "LambdaFunctionAssociations": [
                            {"EventType": "viewer-request",
                             "LambdaFunctionARN": _ref("ViewerRequestVersion")},
                            {"EventType": "origin-response",
                             "LambdaFunctionARN": _ref("OriginResponseVersion")},
                        ],
                    },
                }},
            },
        },
        "Outputs": {
            "DistributionId": {"Value": _ref("Distribution")},
            "DistributionDomainName": {"Value": {"Fn::GetAtt": ["Distribution", "DomainName"]}},
            "ViewerRequestVersionArn": {"Value": _ref("ViewerRequestVersion")},
            "OriginResponseVersionArn": {"Value": _ref("OriginResponseVersion")},
        },
    }


def eager_template(info: dict[str, Any]) -> dict[str, Any]:
    """The eager function's stack, deployed in the bucket's Region (the edge stack stays in us-east-1): the
    function, an EventBridge rule on the bucket's "Object Created" events outside the derived prefix (S3's own
    notification filters cannot exclude a prefix), one retry then an SQS queue for failed events."""
    bucket, prefix = info["bucket"], info["derived_prefix"]
    bucket_arn = f"arn:${{AWS::Partition}}:s3:::{bucket}"
    artifact = info["artifacts"]["eager"]
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"resizer eager variants for s3://{bucket} (deploy in {info['region']}, the bucket's Region; "
                       "turn on the bucket's EventBridge notifications, docs/EDGE.md)",
        "Parameters": {
            "ArtifactBucket": {"Type": "String",
                               "Description": f"a bucket in {info['region']} holding eager.zip (Lambda reads code "
                                              "from its own Region)"},
            "EagerKey": {"Type": "String", "Default": artifact["key"]},
            "EagerMemorySize": {"Type": "Number", "Default": ORIGIN_MEMORY_MB, "MinValue": 128, "MaxValue": 10240,
                                "Description": "MB for the eager function (CPU scales with it)"},
        },
        "Resources": {
            "EagerRole": _role("resizer eager: read originals, create variants, record failures", [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": _sub(f"{bucket_arn}/*")},
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": _sub(bucket_arn)},  # HEAD: 404 not 403
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": _sub(f"{bucket_arn}/{prefix}/*")},
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["FailedUploads", "Arn"]}},
            ], principals=("lambda.amazonaws.com",)),
            "EagerFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Description": f"resizer eager (config sha256 {info['config_sha256'][:12]})",
                    "Runtime": info["runtime"],
                    "Architectures": ["x86_64"],  # the zip's wheels are manylinux x86_64
                    "Handler": artifact["handler"],
                    "Role": {"Fn::GetAtt": ["EagerRole", "Arn"]},
                    "MemorySize": _ref("EagerMemorySize"),
                    "Timeout": 300,
                    "Code": {"S3Bucket": _ref("ArtifactBucket"), "S3Key": _ref("EagerKey")},
                },
            },
            "FailedUploads": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
            "EagerInvokeConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": _ref("EagerFunction"),
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 1,  # a bad original fails the same way twice: then it is recorded
                    "MaximumEventAgeInSeconds": 3600,
                    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailedUploads", "Arn"]}}},
                },
            },
            "UploadRule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Description": f"new originals in {bucket}, not under {prefix}/",
                    "EventPattern": {
                        "source": ["aws.s3"],
                        "detail-type": ["Object Created"],
                        "detail": {"bucket": {"name": [bucket]},
                                   "object": {"key": [{"anything-but": {"prefix": f"{prefix}/"}}]}},
                    },
                    "Targets": [{"Arn": {"Fn::GetAtt": ["EagerFunction", "Arn"]}, "Id": "eager"}],
                },
            },
            "UploadRulePermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": _ref("EagerFunction"),
                    "Principal": "events.amazonaws.com",
                    "SourceArn": {"Fn::GetAtt": ["UploadRule", "Arn"]},
                },
            },
        },
        "Outputs": {
            "EagerFunctionArn": {"Value": {"Fn::GetAtt": ["EagerFunction", "Arn"]}},
            "FailedUploadsQueueUrl": {"Value": _ref("FailedUploads")},
        },
    }


def origin_shield_region(choice: str, bucket_region: str) -> str | None:
    """The Origin Shield Region for `--origin-shield` (`auto`: the bucket's Region, or the neighbour the guide
    names; `off`: None; else a Region that has Origin Shield). ValueError says what to pass instead."""
    if choice == "off":
        return None
    region = bucket_region if choice == "auto" else choice
    region = ORIGIN_SHIELD_NEIGHBOUR.get(region, region) if choice == "auto" else region
    if region not in ORIGIN_SHIELD_REGIONS:
        raise ValueError(f"no Origin Shield in {region!r} and no neighbour known for it: pass --origin-shield with one "
                         f"of {', '.join(ORIGIN_SHIELD_REGIONS)} (the nearest to the bucket), or off")
    return region


def render_template(info: dict[str, Any], eager: bool = False) -> str:
    """template.yaml (the edge stack, us-east-1) or, with `eager`, template-eager.yaml (the bucket's Region)."""
    where = info["region"] if eager else "us-east-1"
    header = (f"# Generated by `resizer build` (config sha256 {info['config_sha256']}).\n"
              f"# Deploy in {where}; see docs/EDGE.md. Regenerate rather than edit.\n")
    data = eager_template(info) if eager else template(info)
    try:
        import yaml
    except ImportError:
        return header + json.dumps(data, indent=2) + "\n"

    class NoAliases(yaml.SafeDumper):  # CloudFormation rejects YAML anchors/aliases for repeated values
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return header + yaml.dump(data, Dumper=NoAliases, sort_keys=False, width=110, default_flow_style=False)
