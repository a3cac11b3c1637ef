"""Peer benchmark: the same variants through resizer's paths and through sharp, thumbor and plain Pillow.

From the repo root:

    .venv/bin/python -m benchmarks.peers [--images ../shared/corpus] [--limit N] [--formats jpeg,webp,avif]
                                         [--avif-limit N] [--only NAMES | --skip NAMES] [--quality-sample N]
                                         [--far-origin LATENCY,BANDWIDTH] [--out reports/peers/<timestamp>]
                                         [--keep-outputs]

Every image of the folder -> every variant of the config (fit inside, never enlarged) in each format, with the
config's encoder settings (packaged: resizer/variants.toml; summary.json records the ones used) given to every
engine in its own terms. Engines (names for --only/--skip, which also take the groups in --only's help):

    resizer-vips, resizer-pillow   pipeline.transform per request: one variant from the original, as the handler
    batch-vips, batch-pillow       pipeline.render_variants: one decode per original and format, all variants
    serve                          `resizer serve` in its own process, one keep-alive client, every request a miss
    sharp                          sharp 0.34 (the Node original's library), one job at a time: sharp_driver.mjs
    thumbor                        thumbor 7 over HTTP, file loader, no storage, one keep-alive client
    pillow-naive                   open, exif_transpose, convert RGB, resize LANCZOS to the fitted size (no draft)
    pillow-draft                   open, draft, exif_transpose, thumbnail (LANCZOS, reducing_gap 2)
    vips-thumbnail                 pyvips thumbnail_buffer (shrink-on-load, auto-rotate, sRGB)

The peers install themselves on first use under ~/.cache/resizer-peers/ (`npm install sharp@0.34`; a venv with
`pip install thumbor`). Engines run interleaved (per original, in rotating order) so drifting machine load hits
them alike; per-job time includes reading the original (and HTTP for serve/thumbor), not writing the output.
Quality: SSIMULACRA2 (resizer_bench.metrics) of each output against the shared reference, a Lanczos resize of the
full-resolution decode to the output's own size, on --quality-sample originals (scores with fewer than 5 scales,
short side < 113 px, restated with `equivalent_score`).

A far origin (--far-origin 60ms,40MB/s): serve, sharp and thumbor run a second time, interleaved with the rest,
with every original read from an origin that far (resizer.store.origin_model: a round trip per request, then the body at
the bandwidth), as a miss happens at a regional edge cache far from the bucket. `resizer serve` gets
--origin-latency/--origin-bandwidth (CloudFront's fetch, the handler's GET of the original and PUT of the variant
each pay); sharp GETs the original over HTTP per job from origin_server (the Node original's Lambda GETs it from S3
on each miss); thumbor uses its HTTP loader on that server with its file storage on (it keeps each original it
loaded, so only an original's first variant pays). These rows are labelled by the model and not scored (their
outputs are the local rows' again).

Writes jobs.csv (one row per output, with its origin) and summary.json (the far rows under `far_origin`) to --out
and prints the tables, per origin.

Modules: engines (the ways of making variants), installers (sharp and thumbor under ~/.cache), runner (the
interleaved run), scoring (SSIMULACRA2), report (summary.json, jobs.csv, the tables), origin_server (the originals
over shaped HTTP), cli (the arguments).
"""
