"""Peer benchmark: the same variants through resizer's paths and through sharp, thumbor and plain Pillow.

From the repo root:

    .venv/bin/python -m benchmarks.peers [--images ../shared/corpus] [--limit N] [--formats jpeg,webp,avif]
                                         [--avif-limit N] [--only NAMES | --skip NAMES] [--quality-sample N]
                                         [--out reports/peers/<timestamp>] [--keep-outputs]

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

Writes jobs.csv (one row per output) and summary.json to --out and prints the tables.

Modules: engines (the ways of making variants), installers (sharp and thumbor under ~/.cache), runner (the
interleaved run), scoring (SSIMULACRA2), report (summary.json, jobs.csv, the tables), cli (the arguments).
"""
