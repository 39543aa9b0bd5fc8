from lfe.cli import main

main()
