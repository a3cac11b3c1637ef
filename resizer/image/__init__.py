"""Pixels: the pipeline of named steps, the two backends behind one seam, formats and output sizes."""
