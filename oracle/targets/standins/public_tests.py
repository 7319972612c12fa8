"""rnn-oracle's empty stand-in for the course's ``public_tests``: its test cells never run in an audit."""
