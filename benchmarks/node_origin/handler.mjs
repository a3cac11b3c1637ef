// The seed article's stack, written here for comparison (benchmarks/cold_start.py --node): an origin-response
// Lambda@Edge function on Node 20 + sharp + AWS SDK v3 that makes a missing variant, stores it and answers with it.
// It reads the same derived-key layout resizer writes (<prefix>/<variant>/<format>/<settings id>/<original>) so both
// stacks run the same miss against the same bucket; the bucket comes from the event's S3 origin, as Lambda@Edge
// functions without environment variables do. Settings (sizes, encoder options) come from settings.json, which
// the benchmark writes from resizer's config so both stacks encode alike.
import { readFileSync } from "node:fs";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import sharp from "sharp";

const SETTINGS = JSON.parse(readFileSync(new URL("./settings.json", import.meta.url)));
// path-style addressing only where an endpoint override (moto) asks for it; AWS's own endpoints are virtual-hosted
const s3 = new S3Client({ region: SETTINGS.region, forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3) });
const IMMUTABLE = "public, max-age=31536000, immutable";

export const handler = async (event) => {
  const { request, response } = event.Records[0].cf;
  if (!["403", "404"].includes(response.status)) return response;
  const key = decodeURIComponent(request.uri.slice(1));
  const [, variant, format, , ...original] = key.split("/");
  const bucket = request.origin.s3.domainName.split(".s3.")[0];
  const source = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: original.join("/") }));
  const input = Buffer.from(await source.Body.transformToByteArray());
  const size = SETTINGS.sizes[variant];
  const output = await sharp(input).rotate()
    .resize(size, size, { fit: "inside", withoutEnlargement: true })
    .toFormat(format, SETTINGS.encoders[variant][format])
    .toBuffer();
  const type = `image/${format}`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: output, ContentType: type,
                                       CacheControl: IMMUTABLE, IfNoneMatch: "*" }));
  return {
    status: "200", statusDescription: "OK", bodyEncoding: "base64", body: output.toString("base64"),
    headers: { "content-type": [{ key: "Content-Type", value: type }],
               "cache-control": [{ key: "Cache-Control", value: IMMUTABLE }] },
  };
};
