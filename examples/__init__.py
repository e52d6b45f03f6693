"""Examples of using ddb-stress with your own code (importable: ``examples.custom_workload:CouponClaim``)."""
