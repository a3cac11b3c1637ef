"""What each gravity does to the user's photos: for every `cover` variant of the chosen config, a few images made
with each gravity side by side, the window each one cut outlined on the whole original, and what each costs.

The crops are the pipeline's own (`pipeline.transform` on the vips backend, the edge's bytes for that gravity),
written losslessly into the run folder; `data/contact_sheet.csv` lists them with the window (`Result.window`, in
the upright original's pixels) and the miss time; `contact_sheet_html` is the report's section.
"""

import html
import io
import time
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from resizer.config import Config, parse_config
from resizer.image.pipeline import transform
from resizer.image.sizing import FALLBACKS

from .paths import RunDir

TABLE = "contact_sheet"
FOLDER = "contact_sheet"
GRAVITIES = FALLBACKS  # the workbench has no focal points: `focus` falls back to one of these
COLOURS = {"centre": (255, 255, 255), "attention": (255, 64, 64), "entropy": (64, 160, 255)}
THUMB = 360  # px: the longer side of the outlined original
COLUMNS = ["variant", "image", "gravity", "path", "width", "height", "left", "top", "right", "bottom", "ms",
           "overview"]


def cover_variants(config: Config) -> list[str]:
    return [name for name, v in config.variants.items() if v.shape().fit == "cover"]


def with_gravity(config: Config, variant: str, gravity: str):
    """The variant with another gravity (and nothing else changed)."""
    v = config.variant(variant)
    return v._replace(geometry=v.shape()._replace(gravity=gravity))


def make_contact_sheet(run: RunDir, root: str | Path, chosen_text: str, images: list[str],
                       fmt: str = "png") -> pd.DataFrame:
    """Every cover variant of `chosen_text` x `images` (file names under `root`) x GRAVITIES: the crops, the
    outlined originals and the table (also written to data/contact_sheet.*). Empty without a cover variant."""
    config = parse_config(chosen_text)
    folder = run.path / FOLDER
    rows = []
    for variant in cover_variants(config):
        for image in images:
            data = (Path(root) / image).read_bytes()
            windows = {}
            for gravity in GRAVITIES:
                started = time.perf_counter()
                result = transform(data, with_gravity(config, variant, gravity), fmt, backend="vips",
                                   limits=config.limits)
                ms = (time.perf_counter() - started) * 1000
                path = folder / f"{variant}-{Path(image).stem}-{gravity}.{fmt}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(result.data)
                windows[gravity] = result.window
                rows.append(dict(variant=variant, image=image, gravity=gravity, path=f"{FOLDER}/{path.name}",
                                 width=result.width, height=result.height, left=result.window[0],
                                 top=result.window[1], right=result.window[2], bottom=result.window[3], ms=ms,
                                 overview=f"{FOLDER}/{variant}-{Path(image).stem}-windows.png"))
            outlined(data, windows).save(folder / f"{variant}-{Path(image).stem}-windows.png")
    table = pd.DataFrame(rows, columns=COLUMNS)
    if len(table):
        run.write_table(table, TABLE)
    return table


def outlined(data: bytes, windows: dict[str, tuple[float, float, float, float]]) -> Image.Image:
    """The upright original, THUMB px on its longer side, with each gravity's window outlined in its colour."""
    with Image.open(io.BytesIO(data)) as im:
        upright = ImageOps.exif_transpose(im).convert("RGB")
    scale = THUMB / max(upright.size)
    thumb = upright.resize((max(1, round(upright.width * scale)), max(1, round(upright.height * scale))))
    draw = ImageDraw.Draw(thumb)
    for gravity, (left, top, right, bottom) in windows.items():
        draw.rectangle([left * scale, top * scale, right * scale - 1, bottom * scale - 1],
                       outline=COLOURS[gravity], width=2)
    return thumb


def contact_sheet_links(run: RunDir) -> str:
    """One line for the decision, as for the pictures: where to see what each cover variant's gravity crops."""
    if not run.has_table(TABLE):
        return ""
    names = ", ".join(html.escape(v) for v in run.read_table(TABLE).variant.unique())
    return f"<p>See what each gravity crops from your photos ({names}): <a href='#contact-sheet'>crops</a>.</p>"


def contact_sheet_html(run: RunDir) -> str:
    """The report's section: per cover variant and image, the outlined original and one crop per gravity, then
    the median miss ms of each gravity; "" without a cover variant."""
    if not run.has_table(TABLE):
        return ""
    e = html.escape
    table = run.read_table(TABLE)
    out = ["<section id='contact-sheet'><h2>Crops: what each gravity does to your photos</h2>",
           "<p>Each <code>fit = \"cover\"</code> variant made with every gravity the workbench can place without a "
           "focal point (<code>focus</code> falls back to its <code>fallback</code>): the windows outlined on the "
           "original (white centre, red attention, blue entropy), then the crops as the edge makes them. "
           "<code>attention</code> and <code>entropy</code> are libvips' saliency crops: see the README on their "
           f"biases before opting in (<a href='data/{TABLE}.csv'>table</a>).</p>"]
    for (variant, image), part in table.groupby(["variant", "image"], sort=False):
        out.append(f"<figure class='example'><figcaption><b>{e(variant)}</b>: {e(image)}</figcaption>"
                   "<div class='tiles'>")
        overview = part.overview.iloc[0]
        text = e(f"{image}: the windows of {variant}'s gravities")
        out.append(f"<figure><img src='{e(overview)}' alt='{text}' title='{text}'><figcaption>{text}"
                   "</figcaption></figure>")
        for r in part.itertuples():
            text = e(f"{variant} {image} gravity {r.gravity} ({r.width}x{r.height})")
            out.append(f"<figure><img src='{e(r.path)}' alt='{text}' title='{text}' width='{r.width}' "
                       f"height='{r.height}'><figcaption>{text}</figcaption></figure>")
        out.append("</div></figure>")
    cost = table.groupby(["variant", "gravity"], sort=False).ms.median().unstack()
    centre = cost["centre"]
    out.append("<table><caption>Median miss ms per gravity (vips, this machine), and against centre</caption>"
               "<tr><th>variant</th>" + "".join(f"<th>{g}</th>" for g in GRAVITIES) + "</tr>")
    for variant, row in cost.iterrows():
        out.append(f"<tr><td>{e(str(variant))}</td>" + "".join(
            f"<td>{row[g]:.0f} ({row[g] / centre[variant]:.2f}x)</td>" for g in GRAVITIES) + "</tr>")
    out.append("</table></section>")
    return "\n".join(out)
