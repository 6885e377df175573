"""The doctor: checks that turn what is wrong into alerts, each with its fixes."""
