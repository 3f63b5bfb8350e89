"""Model families built on the foundation: speech LM, flow, vocoder, S2ST, training recipes."""
