from postie.cli import main

main()
