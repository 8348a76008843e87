#!/usr/bin/env bash
# Real-browser check of the built book, for CI: opens every chapter in headless
# Chromium (Debian's `chromium` package: apt-get install -y chromium) and checks
# that the math was typeset with KaTeX's own fonts (loaded from the book itself)
# and that every figure loaded.
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
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({math, loaded, failed, family, images: imgs.length, broken});
  document.body.appendChild(out);
});
</script>'
status=0
for page in "$work"/*.html; do
  name="$(basename "$page")"
  case "$name" in 404.html|print.html|toc.html) continue ;; esac
  python3 - "$page" "$probe" <<'PY'
import sys
p, probe = sys.argv[1], sys.argv[2]
s = open(p, encoding="utf-8").read()
open(p, "w", encoding="utf-8").write(s.replace("</body>", probe + "</body>", 1))
PY
  dom="$("$browser" --headless --no-sandbox --disable-gpu --allow-file-access-from-files \
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
if r["math"] > 0:
    if r["loaded"] == 0: bad.append("no KaTeX font loaded")
    if r["failed"]: bad.append("KaTeX fonts failed: %s" % r["failed"])
    if "KaTeX" not in r["family"]: bad.append("math not in a KaTeX font: %s" % r["family"])
print("; ".join(bad))')"
  if [ -n "$verdict" ]; then
    echo "FAIL $name: $verdict ($result)"; status=1
  else
    echo "ok   $name: $result"
  fi
done
exit $status
