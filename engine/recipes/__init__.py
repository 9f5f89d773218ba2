"""Optional stages around the training core, one file each; every docstring says what the recipe does and when
`auto` turns it on (the figures behind those choices are in docs/benchmarks.md):

  row_plan.py            which table rows the transformer sees, and which it never sees (for the blend weight)
  contrastive.py         a contrastive pre-stage for scarce text data
  probe_head.py          a head that starts from a linear probe
  blend.py               fine-tuned model vs baseline vs blend, chosen on validation: what is served
  embedding_partner.py   a text partner on the untouched encoder's embeddings, with its memo
  refit.py               train again on train + validation once the choice is made
"""
