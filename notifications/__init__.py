"""Devices, the transactional outbox, the dispatcher, and the APNs and FCM senders."""
