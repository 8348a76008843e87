#!/usr/bin/env bash
# Real-browser check of the built book, for CI: opens every chapter in headless
# Chromium (Debian's `chromium` package: apt-get install -y chromium), at 1280 px and
# at a phone's 400 px, and checks that the math was typeset with KaTeX's own fonts
# (loaded from the book itself), that every figure loaded and is numbered, that
# nothing is wider than the page unless it sits in a box that scrolls sideways (a
# wide table, a chart), that no text is under 10 px (12 px in a table), and that the
# text of every SVG figure, as shown, is 10 px or more and overlaps no other text.
# Then that the book's search index finds "inpainting". Prints its time.
#
#   .ci/browser-check.sh [BOOK_DIR]      (default: book/, as `dip book` writes it)
#
# The built pages are copied to a temporary folder, once per width, and a small
# script is added to each copy; it waits for the fonts and images, then writes its
# findings into the DOM, which Chromium dumps (--dump-dom); two pages load at a time. Network access is blocked for the
# browser (--host-resolver-rules), so anything fetched from outside would fail.
set -euo pipefail
book="${1:-book}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "browser-check: no chromium found (apt-get install -y chromium)" >&2
  exit 2
fi
[ -f "$book/index.html" ] || { echo "browser-check: $book/index.html not found: run dip book first" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
probe='<script>
window.addEventListener("load", async () => {
  await document.fonts.ready;
  const main = document.querySelector("main");
  const imgs = [...document.querySelectorAll("main img")];
  await Promise.all(imgs.map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })));
  const math = document.querySelectorAll("main .katex").length;
  const faces = [...document.fonts].filter(f => f.family.replace(/"/g, "").startsWith("KaTeX"));
  const loaded = faces.filter(f => f.status === "loaded").length;
  const failed = faces.filter(f => f.status === "error").map(f => f.family);
  const el = document.querySelector("main .katex .mord, main .katex");
  const family = el ? getComputedStyle(el).fontFamily : "";
  const broken = imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  // The width of the page itself (a phone width is set on the html element; the window is wider).
  const page = document.documentElement.getBoundingClientRect().width;
  const short = e => (e.tagName.toLowerCase() + " " + (e.getAttribute("src") || e.textContent.trim().slice(0, 40)));
  // Inside main, a box that scrolls sideways may hold what is wider than the page.
  const scrolls = e => {
    for (let a = e.parentElement; a && a !== main; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll") return true;
    }
    return false;
  };
  // The MathML copy of KaTeX is for screen readers: clipped to nothing on the screen.
  const wide = [...main.querySelectorAll("*")].filter(e => !e.closest(".katex-mathml")).filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.right > page + 1 && !scrolls(e);
  }).map(e => short(e) + " ends at " + Math.round(e.getBoundingClientRect().right) + " px").slice(0, 5);
  // Text: what a page sets in HTML (KaTeX sets its own scripts, as TeX does).
  const small = [...main.querySelectorAll("*")].filter(e =>
    !e.closest(".katex") && !e.closest("svg") &&
    [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()) &&
    e.getBoundingClientRect().width > 0 &&
    parseFloat(getComputedStyle(e).fontSize) < (e.closest("table") ? 12 : 10)
  ).map(e => short(e) + ": " + getComputedStyle(e).fontSize).slice(0, 5);
  // The text of the SVG figures, drawn at the size they are shown: none overlaps
  // another, none is under 10 px.
  const svgs = [...new Set(imgs.map(i => i.getAttribute("src")).filter(s => s && s.endsWith(".svg")))];
  const overlaps = [], tiny = [];
  const box = document.createElement("div");
  box.style.cssText = "position:absolute;left:-20000px;top:0";
  document.body.appendChild(box);
  for (const src of svgs) {
    const img = imgs.find(i => i.getAttribute("src") === src);
    const xhr = new XMLHttpRequest();
    try { xhr.open("GET", img.src, false); xhr.send(); } catch (e) { overlaps.push(src + ": cannot read it"); continue; }
    const svg = new DOMParser().parseFromString(xhr.responseText, "image/svg+xml").documentElement;
    box.replaceChildren(document.importNode(svg, true));
    const drawn = box.firstElementChild;
    const scale = img.getBoundingClientRect().width / drawn.getBoundingClientRect().width;
    const texts = [...drawn.querySelectorAll("text")].filter(t => t.textContent.trim());
    const rects = texts.map(t => t.getBoundingClientRect());
    texts.forEach((t, i) => {
      const px = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (px < 10) tiny.push(src + ": \"" + t.textContent.slice(0, 30) + "\" at " + px.toFixed(1) + " px");
      for (let j = i + 1; j < texts.length; j++) {
        const a = rects[i], b = rects[j];
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 0.5 && h > 0.5) overlaps.push(src + ": \"" + t.textContent.slice(0, 30) + "\" and \"" + texts[j].textContent.slice(0, 30) + "\"");
      }
    });
  }
  box.remove();
  // mdbook shows each image twice (the picture and its zoomed copy): count sources.
  const figures = new Set(imgs.filter(i => i.getAttribute("alt") !== "output of the cell").map(i => i.getAttribute("src"))).size;
  const numbered = (main.innerText.match(/Figure \d+\.\d+/g) || []).length;
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({math, loaded, failed, family, images: imgs.length, broken, page, wide, small, overlaps: overlaps.slice(0, 5), tiny: tiny.slice(0, 5), svgs: svgs.length, figures, numbered});
  document.body.appendChild(out);
});
</script>'
started=$SECONDS
# One copy of the book per width, the probe added to each page (and, for the phone's
# width, the page's own width: headless Chromium's window is at least 500 px wide, and
# the media queries see a narrow screen either way).
for width in 1280 400; do
  mkdir -p "$work/$width"
  cp -r "$book/." "$work/$width/"
  narrow=""
  [ "$width" -lt 500 ] && narrow="<style>html { width: ${width}px !important; }</style>"
  python3 - "$work/$width" "$narrow$probe" <<'PY'
import sys, pathlib
folder, probe = pathlib.Path(sys.argv[1]), sys.argv[2]
for p in folder.glob("*.html"):
    s = p.read_text(encoding="utf-8")
    p.write_text(s.replace("</body>", probe + "</body>", 1), encoding="utf-8")
PY
done
mkdir -p "$work/found"
# One page at one width: what the probe found, as JSON, in found/WIDTH-PAGE.
check_page() {
  width="$1" page="$2"
  "$browser" --headless --no-sandbox --disable-gpu --allow-file-access-from-files \
      --window-size="$width,900" --user-data-dir="$work/profile-$width-$(basename "$page")" \
      --host-resolver-rules="MAP * ~NOTFOUND" --virtual-time-budget=10000 \
      --dump-dom "file://$page" 2>/dev/null | python3 -c '
import sys, re, html
m = re.search(r"<pre id=\"browser-check\">(.*?)</pre>", sys.stdin.read(), re.S)
print(html.unescape(m.group(1)) if m else "")' > "$work/found/$width-$(basename "$page")" || true
}
export -f check_page
export browser work
pages=()
for width in 1280 400; do
  for page in "$work/$width"/*.html; do
    case "$(basename "$page")" in 404.html|print.html|toc.html) continue ;; esac
    pages+=("$width" "$page")
  done
done
# Two pages at a time (CI has two cores), reported below in order.
printf '%s\n' "${pages[@]}" | xargs -d '\n' -n 2 -P 2 bash -c 'check_page "$1" "$2"' _
status=0
for ((i = 0; i < ${#pages[@]}; i += 2)); do
  width="${pages[i]}" name="$(basename "${pages[i + 1]}")"
  result="$(cat "$work/found/$width-$name" 2>/dev/null || true)"
  if [ -z "$result" ]; then
    echo "FAIL $name at $width px: the page did not finish loading"; status=1; continue
  fi
  verdict="$(printf '%s' "$result" | python3 -c '
import sys, json
r = json.load(sys.stdin)
bad = []
if r["broken"]: bad.append("figures not loaded: %s" % r["broken"])
if r["wide"]: bad.append("wider than the page (%d px), outside a box that scrolls: %s" % (r["page"], r["wide"]))
if r["small"]: bad.append("text under 10 px (12 px in a table): %s" % r["small"])
if r["overlaps"]: bad.append("SVG text overlapping other text: %s" % r["overlaps"])
if r["tiny"]: bad.append("SVG text under 10 px as shown: %s" % r["tiny"])
if r["numbered"] < r["figures"]: bad.append("%d figures, %d numbered" % (r["figures"], r["numbered"]))
if r["math"] > 0:
    if r["loaded"] == 0: bad.append("no KaTeX font loaded")
    if r["failed"]: bad.append("KaTeX fonts failed: %s" % r["failed"])
    if "KaTeX" not in r["family"]: bad.append("math not in a KaTeX font: %s" % r["family"])
print("; ".join(bad))')"
  if [ -n "$verdict" ]; then
    echo "FAIL $name at $width px: $verdict"; status=1
  else
    echo "ok   $name at $width px: $result"
  fi
done
# Search works offline: the index ships with the book and knows the chapters' words.
if grep -qs -i "inpainting" "$book"/searchindex*.js "$book"/searchindex*.json 2>/dev/null; then
  echo "ok   search: the index finds \"inpainting\""
else
  echo "FAIL search: no search index with \"inpainting\" in $book"; status=1
fi
echo "browser-check: $((SECONDS - started)) s"
exit $status
