"""`stress conform`: documented AWS DynamoDB behaviours, probed on each backend, as a matrix.

Each probe (``probes/``, one module each) checks one behaviour that an AWS documentation page states —
most of them about contention, where an emulator that passes request/response shape tests can still
differ from AWS — and answers ``conforms``, ``differs`` (with what came back instead) or
``inconclusive`` (with why). ``probe.py`` is the contract a probe implements, ``probes/documented.py``
what each probe checks as AWS documents it (the matrix's row headers, in one table), ``client.py`` what a
probe is given (a DynamoDB client and its own tables), ``matrix.py`` runs every probe against every
backend, ``terminal.py`` and ``html.py`` show the matrix.
"""
