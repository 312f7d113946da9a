from hushdesk.cli import main

main()
