"""Object storage: one small blob contract, and the state, log and artifact stores built on it once.

Backends (S3, GCS, Azure Blob, a local directory) implement only
:class:`~sparkwing.storage.blobs.contracts.BlobStore`; everything else lives
here, so every object-store plugin behaves the same.
"""
