-- The rooms application services publish in their networks' room directories (PUT /directory/list/appservice/{networkId}/{roomId}; Synapse's appservice_room_list), which /publicRooms lists with third_party_instance_id or include_all_networks.
CREATE TABLE appservice_room_list (
    appservice_id TEXT NOT NULL,
    network_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (appservice_id, network_id, room_id)
);
