"""The pure core: shot model, trajectory math, motion analysis, wire protocol, HTTP client.

Nothing under ``core`` imports bpy or mathutils, so it runs (and is tested) anywhere, and the
server shares it for the motion analysis.
"""
