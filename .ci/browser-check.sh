#!/usr/bin/env bash
# Real-browser check of the built book, for CI: opens every chapter in headless
# Chromium (Debian's `chromium` package: apt-get install -y chromium), at 1280 px and
# at a phone's 400 px, and checks that the math was typeset with KaTeX's own fonts
# (loaded from the book itself), that every figure loaded and is numbered, and that
# no table or code block is wider than the text column (a table's last column, the
# mean, stays on the screen). Then that the book's search index finds "inpainting".
#
#   .ci/browser-check.sh [BOOK_DIR]      (default: book/, as `dip book` writes it)
#
# The built pages are copied to a temporary folder and a small script is added to
# each copy; it waits for the fonts and images, then writes its findings into the
# DOM, which Chromium dumps (--dump-dom). Network access is blocked for the
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
cp -r "$book/." "$work/"
probe='<script>
window.addEventListener("load", async () => {
  await document.fonts.ready;
  const imgs = [...document.querySelectorAll("main img")];
  await Promise.all(imgs.map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })));
  const math = document.querySelectorAll("main .katex").length;
  const faces = [...document.fonts].filter(f => f.family.replace(/"/g, "").startsWith("KaTeX"));
  const loaded = faces.filter(f => f.status === "loaded").length;
  const failed = faces.filter(f => f.status === "error").map(f => f.family);
  const el = document.querySelector("main .katex .mord, main .katex");
  const family = el ? getComputedStyle(el).fontFamily : "";
  const broken = imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  const column = document.querySelector("main").clientWidth;
  const wide = [...document.querySelectorAll("main table, main pre")]
    .filter(e => e.scrollWidth > column + 1)
    .map(e => e.tagName.toLowerCase() + " " + e.scrollWidth + " px: " + e.textContent.trim().slice(0, 40));
  // mdbook shows each image twice (the picture and its zoomed copy): count sources.
  const figures = new Set(imgs.filter(i => i.getAttribute("alt") !== "output of the cell").map(i => i.getAttribute("src"))).size;
  const numbered = (document.querySelector("main").innerText.match(/Figure \d+\.\d+/g) || []).length;
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({math, loaded, failed, family, images: imgs.length, broken, column, wide, figures, numbered});
  document.body.appendChild(out);
});
</script>'
status=0
for width in 1280 400; do
for page in "$work"/*.html; do
  name="$(basename "$page")"
  case "$name" in 404.html|print.html|toc.html) continue ;; esac
  # Headless Chromium's window is at least 500 px wide: a phone's 400 px is the page's
  # own width, set here (the media queries see a narrow screen either way).
  narrow=""
  [ "$width" -lt 500 ] && narrow="<style>html { width: ${width}px !important; }</style>"
  python3 - "$page" "$narrow$probe" <<'PY'
import sys
p, probe = sys.argv[1], sys.argv[2]
s = open(p, encoding="utf-8").read()
open(p, "w", encoding="utf-8").write(s.replace("</body>", probe + "</body>", 1))
PY
  dom="$("$browser" --headless --no-sandbox --disable-gpu --allow-file-access-from-files \
        --window-size="$width,900" \
        --host-resolver-rules="MAP * ~NOTFOUND" --virtual-time-budget=10000 \
        --dump-dom "file://$page" 2>/dev/null || true)"
  result="$(printf '%s' "$dom" | python3 -c '
import sys, re, json, html
m = re.search(r"<pre id=\"browser-check\">(.*?)</pre>", sys.stdin.read(), re.S)
print(html.unescape(m.group(1)) if m else "")')"
  if [ -z "$result" ]; then
    echo "FAIL $name: the page did not finish loading"; status=1; continue
  fi
  verdict="$(printf '%s' "$result" | python3 -c '
import sys, json
r = json.load(sys.stdin)
bad = []
if r["broken"]: bad.append("figures not loaded: %s" % r["broken"])
if r["wide"]: bad.append("wider than the column (%d px): %s" % (r["column"], r["wide"]))
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
  # The probe is added once per copy: take a fresh copy for the next width.
  cp "$book/$name" "$page"
done
done
# Search works offline: the index ships with the book and knows the chapters' words.
if grep -qs -i "inpainting" "$book"/searchindex*.js "$book"/searchindex*.json 2>/dev/null; then
  echo "ok   search: the index finds \"inpainting\""
else
  echo "FAIL search: no search index with \"inpainting\" in $book"; status=1
fi
exit $status
