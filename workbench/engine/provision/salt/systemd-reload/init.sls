# Units change under Salt: the init reads them again before a restart. Runs only when a
# unit file changed (each says so with onchanges_in), so a second run changes nothing.
systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
