"""Learning results back to where people are managed (DESIGN §1.4, §1.5): course progress, certificates and
badges read from the sync's LMS, each record written once per change to Salesforce or the state database.

`records` reads a range of days, `identity` finds each learner's Salesforce User or Contact, `hashes`
fingerprints what would be sent, `delivery` writes only what changed through one of the destinations
(`salesforce_destination`, `embedded_destination`) and records every outcome in `state.deliveries`.
"""
