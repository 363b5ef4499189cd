"""Libraries for operators and developers, behind the thin command lines in scripts/.

Traffic (plan, send, report), the read model of what is stored and its text view, the quarantine
replay, the smoke test, the CSS callback set-up, the local stack, the benchmark and the mutation
check. Never shipped to SCF: the code packages hold functions/ and shared/ only.
"""
