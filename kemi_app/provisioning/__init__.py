"""Provisioning models: the entities operators create through the API and the tenant file.

Each entity is declared once (`fields.Entity`); the declaration both validates a JSON body
and yields the entity's JSON Schema for the OpenAPI document. Routing decisions live in
`kemi_app.policy`, which reads these models but never validates input.
"""
