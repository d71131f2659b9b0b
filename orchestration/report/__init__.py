"""The annual channel review (销售部年度渠道管理与业绩复盘), rendered from the served marts.

One self-contained HTML file per year: Chinese first with English beside it, charts as inline
SVG (Vega-Lite specs built with altair, rendered by vl-convert, which bundles the Vega
JavaScript and runs offline), the numbers in tables beside them, and the CJK font subset to the
characters the file uses and embedded, so the file requests no URL and shows every glyph on a
machine without Chinese fonts. It prints to PDF from a browser (A4 landscape).

- `orchestration.report.render.render_reviews`: serving database + years -> HTML files;
- `orchestration.report.assets.build_report_asset`: the Dagster asset downstream of the
  publish step;
- `warehouse report [--year YYYY] [--out FILE]`: the same from the command line.

The report reads only the serving database (schema `marts`), on one read-only connection, so
every number in a file comes from one published version (named on its cover).
"""
