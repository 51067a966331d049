from areafetch.cli import main

main()
