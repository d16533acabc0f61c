"""Weight-sharing supernets: every subnet of a space is a slice of one set of weights."""
