"""The style sheet of report.html (one rule a line, so lines run long)."""

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --alt: #f6f8fa; }
body { font: 15px/1.55 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif;
       color: var(--fg); max-width: 1180px; margin: 2rem auto 4rem; padding: 0 1.5rem; }
h1 { font-size: 2rem; margin: 0 0 .2rem; }
h2 { font-size: 1.45rem; margin: 2.8rem 0 .3rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .2rem; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
.meta { color: var(--muted); margin: .2rem 0 1rem; }
code { font: .85em ui-monospace, "DejaVu Sans Mono", monospace; background: var(--alt); padding: .1rem .35rem; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: .92rem; }
th, td { padding: .45rem .7rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--alt); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
.note { color: var(--muted); font-size: .82rem; }
.badge { display: inline-block; padding: .08rem .65rem; border-radius: 999px; font-weight: 600; font-size: .85rem; white-space: nowrap; }
.v-reproduced { background: #dafbe1; color: #116329; }
.v-not-reproduced { background: #ffebe9; color: #a40e26; }
.v-inconclusive { background: #fff8c5; color: #7d4e00; }
.s-ok { color: #1a7f37; } .s-diverged { color: #cf222e; font-weight: 600; } .s-interrupted { color: #9a6700; font-weight: 600; }
.tiles { display: flex; gap: 1rem; margin: 1rem 0 .5rem; }
.tile { flex: 1; border-radius: 10px; padding: .7rem 1rem; font-weight: 600; }
.tile b { display: block; font-size: 1.9rem; line-height: 1.1; }
.tile.zero { opacity: .45; }
.notice { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .5rem .9rem; font-size: .88rem; border-radius: 4px; }
.lesson { font-weight: 600; margin: .8rem 0; }
.why { font-size: .88rem; color: #57606a; }
figure { margin: 1.2rem 0; text-align: center; }
figure img { max-width: 100%; border: 1px solid var(--line); border-radius: 8px; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .3rem; }
.wide { overflow-x: auto; }  /* a family with many metric columns scrolls instead of squeezing */
td:first-child { min-width: 13rem; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1.2rem; align-items: start; }
.gallery figure { margin: 0; }
"""
