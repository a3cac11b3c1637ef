// sharp driver for benchmarks/peers: the Node + sharp original's work, one variant per job, timed in Node.
//
//   node sharp_driver.mjs SHARP_DIR [CONCURRENCY] < jobs.jsonl
//
// SHARP_DIR is the folder `npm install sharp` ran in. First line out: versions. Then one JSON line in, one out:
//   in:  {"input": PATH or URL, "size": N, "format": "jpeg"|"webp"|"avif", "output": PATH,
//         "quality": Q, "effort": E, "subsampling": "4:2:0"|"4:4:4", "progressive": true|false}
//   out: {"ms": wall of read (or GET) + decode + orient + resize + encode, "bytes": N, "width": W, "height": H}
//        or {"error": MESSAGE}
// The output file is written after the clock stops. Jobs run one at a time (one stream, like one Lambda). A URL
// input is fetched into a Buffer per job, as the Node original's Lambda GETs the original from S3 on each miss.
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [sharpDir, concurrency] = process.argv.slice(2);
const sharp = createRequire(join(sharpDir, "package.json"))("sharp");
if (concurrency) sharp.concurrency(Number(concurrency));
sharp.cache(false); // every job starts from the bytes, as a fresh request does

const options = (job) => {
  const chroma = job.subsampling ? { chromaSubsampling: job.subsampling } : {};
  if (job.format === "jpeg") {
    return { quality: job.quality, progressive: !!job.progressive, optimiseCoding: true, mozjpeg: false, ...chroma };
  }
  if (job.format === "webp") return { quality: job.quality, effort: job.effort };
  return { quality: job.quality, effort: job.effort, bitdepth: 8, ...chroma }; // avif
};

async function download(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

async function run(job) {
  const start = process.hrtime.bigint();
  const input = /^https?:/.test(job.input) ? await download(job.input) : await readFile(job.input);
  const { data, info } = await sharp(input)
    .rotate() // EXIF orientation (sharp leaves it alone otherwise)
    .resize({ width: job.size, height: job.size, fit: "inside", withoutEnlargement: true })
    .toFormat(job.format, options(job))
    .toBuffer({ resolveWithObject: true });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await writeFile(job.output, data);
  return { ms, bytes: data.length, width: info.width, height: info.height };
}

console.log(JSON.stringify({ sharp: sharp.versions.sharp, vips: sharp.versions.vips, concurrency: sharp.concurrency(),
                             simd: sharp.simd(), node: process.versions.node }));
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await run(JSON.parse(line));
  } catch (err) {
    answer = { error: String(err && err.message ? err.message : err) };
  }
  console.log(JSON.stringify(answer));
}
