from lfe.cli import run

run()
