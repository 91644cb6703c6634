"""Apply: carry out a plan against the providers, recording every upload as it is confirmed."""
